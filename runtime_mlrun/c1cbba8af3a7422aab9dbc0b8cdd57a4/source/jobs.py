import time


def nap(context):
    time.sleep(300)
