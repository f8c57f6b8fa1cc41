"""Evidence where decisions are made (issue 11): what the backtester can say at the moment a
trader approves or vetoes a candidate, changes a parameter, or decides to keep trading.

* :mod:`.track_record`: how a candidate's strategy did in the backtest history, in the same
  regime and sector (from a stored backtest of the parameter set in force, :mod:`.reference`);
* :mod:`.change`: "what would this change do?": the backtest with the current and with the
  edited parameters, side by side;
* :mod:`.drift`: the sessions the app traded against a backtest of the same sessions with the
  parameter versions then in force, trade by trade, totals by cause;
* :mod:`.edge`: what the trader's approvals and vetoes did against the rules alone.

Engine side only: nothing here imports Qt; long work runs in worker processes (:mod:`.jobs`).
"""
