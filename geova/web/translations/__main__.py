"""``python -m geova.web.translations``: compile the catalogues (used by ``make install``)."""

from geova.web.translations import compile_catalogues

for path in compile_catalogues():
    print(f"compiled {path}")
