ALTER TABLE suggestions ADD CONSTRAINT suggestions_movie_id_fkey
    FOREIGN KEY (movie_id) REFERENCES movies (id) ON DELETE CASCADE;
