"""The pure model core: dataset build, training, evaluation, vectorised top-K.

No broker, no database, no settings: callers pass plain parameters.  The only
modules that touch the disk are the file loaders (:mod:`ml.data`) and writers
(:mod:`ml.writers`); nothing here does I/O at import.
"""
