-- list_item renders a list's item from its movie's card and score. Declared IMMUTABLE,
-- its body concatenated the score with `text || double precision`, which is only STABLE
-- (it calls the number's output function), so Postgres could not inline the function
-- and ran it through the SQL-function executor for every item: half of writing a list.
-- An explicit cast is immutable; the text is the same, and the function now inlines.
CREATE OR REPLACE FUNCTION list_item(card text, score double precision) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN card || ',"score":' || score::text
           || CASE WHEN score = trunc(score) AND abs(score) < 1e15 THEN '.0' ELSE '' END || '}';
