"""atheris: the Coinbase parser (`alphapulse.collectors.coinbase`) on arbitrary venue messages.

`python e2e/fuzz/fuzz_coinbase.py -max_total_time=60`
"""

from fuzz_venues import main

if __name__ == "__main__":
    main("coinbase")
