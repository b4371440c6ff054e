"""`python -m hc_tf ...`: the `hc-tf` command, for an environment whose scripts are not on PATH."""

from hc_tf import cli

if __name__ == "__main__":
    cli.main(prog_name="hc-tf")
