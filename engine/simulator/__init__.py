"""The SMSC simulator (demos, tests, benchmarks): ``Simulator``, ``Faults``, ``Record``.

In-process::

    async with Simulator(users={"demo": "secret"}, receipt_delay=0.1) as sim:
        ...connect an ESME to 127.0.0.1:sim.port...
        sim.faults.throttle_rate = 0.2      # inject faults at run time
        sim.send_mo("4915112345678", "12345", "hello")
        assert sim.record.duplicates == 0

From the shell: ``smpp-engine simulate --port 2775`` (see ``engine/cli/simulate.py``).
"""

from engine.simulator.server import RECEIPT_STATES, Faults, Record, Simulator, SubmitRecord

__all__ = ["Simulator", "Faults", "Record", "SubmitRecord", "RECEIPT_STATES"]
