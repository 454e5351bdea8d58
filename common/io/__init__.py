"""Competition file formats: image readers (``images``), RLE codecs (``rle``), CSV readers
(``csv_readers``), instance label images (``instances``), submission formats, writers and checks
(``submission``), atomic writes (``atomic``) and local scoring of submissions (``scoring``). Each
competition declares its own :class:`~common.io.submission.SubmissionFormat`."""
