"""Upkeep of dimrec's data: left-overs of interrupted writes (:mod:`~dimrec.upkeep.leftovers`,
``dimrec gc``) and integrity checks of everything written (:mod:`~dimrec.upkeep.doctor`,
``dimrec doctor``). Both only read the stages' files and the store through the stages' own
modules (partitions, profiles, model, stores)."""
