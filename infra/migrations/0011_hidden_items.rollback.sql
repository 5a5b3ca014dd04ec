DROP TABLE hidden_items;
