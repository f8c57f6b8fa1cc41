"""Research: backtests of the live engine's rules over history, and the figures, JSON and
reports made from a run's store. Imports the rules and the engine, never Qt."""
