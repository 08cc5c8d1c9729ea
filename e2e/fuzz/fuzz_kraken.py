"""atheris: the Kraken parser (`alphapulse.collectors.kraken`) on arbitrary venue messages.

`python e2e/fuzz/fuzz_kraken.py -max_total_time=60`
"""

from fuzz_venues import main

if __name__ == "__main__":
    main("kraken")
