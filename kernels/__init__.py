"""Offline Kaggle kernels: ``python -m kernels.build`` packages a trained run into a code dataset
(wheels), a weights dataset and a script kernel; :mod:`kernels.runtime` runs it on Kaggle."""
