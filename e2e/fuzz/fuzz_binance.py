"""atheris: the Binance parser (`alphapulse.collectors.binance`) on arbitrary venue messages.

`python e2e/fuzz/fuzz_binance.py -max_total_time=60`
"""

from fuzz_venues import main

if __name__ == "__main__":
    main("binance")
