# The two commands of the README: `make demo` (a real search) and `make test` (the test suite).
.PHONY: setup demo test lint slow

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/metanas search fashion_mnist_quick --resume

lint: setup
	.venv/bin/ruff check src tests benchmarks examples
	.venv/bin/ruff format --check src tests benchmarks examples
	.venv/bin/mypy

test: lint
	.venv/bin/pytest -m "not slow" -q -p no:cacheprovider

slow: setup
	.venv/bin/pytest -m slow -q -p no:cacheprovider
