"""Storage adapter: SQLAlchemy 2 + GeoAlchemy2 over SpatiaLite (embedded) or PostGIS (server)."""
