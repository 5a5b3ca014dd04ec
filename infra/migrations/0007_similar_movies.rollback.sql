DROP TABLE similar_movies;
