-- drop_rejected_lines: forget the lines a previous read rejected, before the next read.
DROP TABLE IF EXISTS rejected_lines;
