"""What every other package shares, importing none of them: the cluster description (names,
addresses, roles: the one source of truth), the settings of the controller and the log reviewer,
and the event log's ECS records. controller/, apps/ and topologies/ import it; it imports
nothing of theirs."""
