"""Launch script of //tests/roundtrip:arm: the driver pod asks for an arm64 node, as on a
cluster with an arm64 node pool (Sematic's runner resources: a node selector)."""

import sys

from sematic.resolvers.resource_requirements import KubernetesResourceRequirements, ResourceRequirements

from examples.launch import launch
from tests.roundtrip.arm_steps import machine

ARM64_NODE = ResourceRequirements(
    kubernetes=KubernetesResourceRequirements(node_selector={"kubernetes.io/arch": "arm64"})
)

if __name__ == "__main__":
    sys.exit(launch(__doc__, lambda args: machine().set(name="arm"), driver_resources=ARM64_NODE))
