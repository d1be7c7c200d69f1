-- rejected_lines_by_file: how many lines of each file the last line-by-line read could not
-- take as text (not UTF-8, too long). The table rejected_lines names a line once per problem;
-- a line counts once. Returns file, lines.
SELECT s.file_path AS file, count(DISTINCT (l.scan_id, l.file_id, l.line)) AS lines
FROM rejected_lines AS l
JOIN rejected_scans AS s ON l.scan_id = s.scan_id AND l.file_id = s.file_id
GROUP BY s.file_path;
