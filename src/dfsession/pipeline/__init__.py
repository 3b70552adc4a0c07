"""The build pipeline: the step protocol, ordering, the runner, monitors, the cache, the hash.

It knows steps only through the ``InstallStep`` protocol; the composition root
(``dfsession.session``) chooses the steps and the monitors.
"""

__all__: list[str] = []
