-- Each movie's most similar movies by the active version's ranking model (its item
-- side), written at activation; GET /api/movies/{id}/similar reads them.
-- depends: 0006_made_by

CREATE TABLE similar_movies (
    movie_id       integer NOT NULL,
    similar_id     integer NOT NULL,
    score          double precision NOT NULL,
    model_version  text NOT NULL,
    PRIMARY KEY (movie_id, similar_id)
);
CREATE INDEX similar_movies_rank_idx ON similar_movies (movie_id, score DESC, similar_id);
