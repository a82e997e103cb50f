"""A stand-in for `shutdown -P now` on an EC2 instance, for the autostop tests: it does what
EC2 does when an instance shuts itself down — stop it, or terminate it when its
instance-initiated shutdown behaviour says so — against moto's server, and writes a file.
It never shuts anything down. Run by the host-side watchdog, which has none of the test's
environment, so everything it needs is on its command line (the credentials are the
tests' fake ones).

    python ec2_shutdown_standin.py ENDPOINT INSTANCE_ID MARKER_FILE
"""

import json
import os
import sys
import time


def main(endpoint: str, instance_id: str, marker: str) -> int:
    import boto3

    from tests.support.aws_fixtures import FAKE_KEY_ID, FAKE_SECRET

    os.environ.update(AWS_ACCESS_KEY_ID=FAKE_KEY_ID, AWS_SECRET_ACCESS_KEY=FAKE_SECRET,
                      AWS_EC2_METADATA_DISABLED="true")
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    behavior = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    action = behavior["InstanceInitiatedShutdownBehavior"]["Value"]
    if action == "terminate":
        ec2.terminate_instances(InstanceIds=[instance_id])
    else:
        ec2.stop_instances(InstanceIds=[instance_id])
    with open(marker, "w") as fh:
        json.dump({"t": time.time(), "action": action, "instance_id": instance_id}, fh)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    sys.exit(main(*sys.argv[1:4]))
