"""Competition file formats: image readers (``images``), RLE codecs (``rle``), CSV readers
(``csv_readers``), instance label images (``instances``), submission writers and checks
(``submission``), atomic writes (``atomic``) and local scoring of submissions (``scoring``)."""
