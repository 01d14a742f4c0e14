"""geova: geospatial quality monitoring of proximity urban services (the OVA method).

The package is layered so that the core never depends on a database or a web framework:
``geova.core`` (pure domain logic) <- ``geova.io`` (file formats) and ``geova.store`` (database)
<- ``geova.importing`` (the import pipeline) <- ``geova.cli`` and ``geova.web``.
"""

__version__ = "0.1.0"
