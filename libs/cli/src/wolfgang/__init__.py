"""`wolfgang`: run the Wolfgang Backoffice on one machine (`wolfgang up`, what `make run` calls) and operate
its event bus: tail, publish, history, replay, dead letters, consumer lag, contracts."""

__all__: list[str] = []
