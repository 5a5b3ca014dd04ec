"""The Faust app, streamrec's topics, and the error / dead-letter policy."""
