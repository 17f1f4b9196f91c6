"""Import and export of directory entries: the MSSanté "Extraction correspondance" file
(31 `|`-separated columns) and a plain CSV format for hand-made lists.

`parse_*` modules are pure (text in, `Entry` or `Rejection` out); `load` writes batches of
entries with bulk upserts; `run.import_file` streams a file through them; `export` writes
the directory back out in either format.
"""
