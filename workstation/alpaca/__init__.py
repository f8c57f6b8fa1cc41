"""Plumbing shared by the Alpaca market (:mod:`workstation.market.alpaca`) and broker
(:mod:`workstation.broker.alpaca`): keys, endpoints, the REST caller (threads, timeouts, rate
limit, retries, connection state) and the two websocket streams."""
