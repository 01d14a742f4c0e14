"""The pure core: domain vocabulary and computations. Imports neither Flask nor the database."""
