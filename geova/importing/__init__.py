"""The import pipeline: read -> validate -> assign to quarters/zones -> store, in one transaction.

Everything that can fail on the user's data fails before or inside the transaction, so a fatal error
leaves the store exactly as it was; rows that are merely wrong are rejected one by one and listed in
a rejects file, and the others are stored.

One module per kind of file: ``interventions`` (requests; a large file into an empty store is
``streamed``), ``layers`` (quarters and zones), ``activities`` (passages and events), and
``referential`` (the schema and the city's norms). What they share: ``placing`` (where a request
goes), ``files`` (digests, rejects files), ``journalling`` and ``reports``. The names below are the
package's interface: the CLI, the web's import jobs, the demo and the tests import them from here.
"""

from geova.importing.activities import import_activities, place_activities
from geova.importing.files import default_rejects_path, write_rejects
from geova.importing.interventions import import_interventions
from geova.importing.layers import check_layer_options, import_layer
from geova.importing.referential import load_extra_referential, prepare_store, referential_path
from geova.importing.reports import InterventionReport, LayerReport

__all__ = [
    "InterventionReport",
    "LayerReport",
    "check_layer_options",
    "default_rejects_path",
    "import_activities",
    "import_interventions",
    "import_layer",
    "load_extra_referential",
    "place_activities",
    "prepare_store",
    "referential_path",
    "write_rejects",
]
