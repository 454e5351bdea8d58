"""Write the Carvana submission from the fold-mean test maps:
``python -m competitions.carvana.submit --config configs/demo.yaml``.

Binarizes each 1918x1280 map at the searched threshold (or the stacker's per-image threshold when
it paid out of fold), applies the hull fix when ``postprocess`` kept it, and writes ``img,rle_mask``
with row-major RLE, one row per test image (every ``sample_submission.csv`` row), validated, then
written atomically to ``<run.out>/submission.csv.gz`` (gzipped). On synthesized data (which ships
``test_solution.csv``) the file is scored.
"""

from common.recipe.hull_stages import submit_stage
from competitions.carvana.competition import CARVANA

run, main = submit_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
