"""MQTT devices: the topic contract, the agent's link, a relay/display simulator."""

from devices.mqtt.contract import (
    AgentTopics,
    Availability,
    DeviceState,
    DeviceTopics,
    SetCommand,
    TopicError,
)
from devices.mqtt.link import BrokerError, MqttDeviceLink, MqttDeviceStatus
from devices.mqtt.virtual import (
    MqttDeviceSimulator,
    MqttFaults,
    SimulatorKind,
    VirtualMqttDevice,
    run_mqtt_simulator,
)

__all__ = [
    "AgentTopics",
    "Availability",
    "BrokerError",
    "DeviceState",
    "DeviceTopics",
    "MqttDeviceLink",
    "MqttDeviceSimulator",
    "MqttDeviceStatus",
    "MqttFaults",
    "SetCommand",
    "SimulatorKind",
    "TopicError",
    "VirtualMqttDevice",
    "run_mqtt_simulator",
]
