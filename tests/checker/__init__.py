"""Hand-written candidates shared by the checker's tests (tests/test_checker*.py)."""
