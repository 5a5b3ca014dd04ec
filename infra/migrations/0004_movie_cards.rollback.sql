ALTER TABLE movies DROP COLUMN card;
DROP FUNCTION movie_card(integer, text, text);
