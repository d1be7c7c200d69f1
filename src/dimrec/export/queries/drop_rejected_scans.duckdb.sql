-- drop_rejected_scans: forget the scans a previous read recorded, before the next read.
DROP TABLE IF EXISTS rejected_scans;
