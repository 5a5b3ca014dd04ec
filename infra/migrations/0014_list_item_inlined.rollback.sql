-- The same text, rendered by the function's earlier (not inlinable) body.
CREATE OR REPLACE FUNCTION list_item(card text, score double precision) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN card || ',"score":' || score
           || CASE WHEN score = trunc(score) AND abs(score) < 1e15 THEN '.0' ELSE '' END || '}';
