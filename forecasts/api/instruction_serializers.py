"""SolarUser instruction API shapes (topic ``OSCP_v20``, seed 002).

A request is JSON ``{"topic"?, "nodeId", "params": {"action", "coId", "cgIdentifier", "msg",
"correlationId"?}}`` (every value a string; ``msg`` may also be a list of its parts) or form
encoded like SolarNetwork tools send it: ``topic=OSCP_v20&nodeId=1&params.action=...`` with
``params.msg`` repeated once per part of at most 256 characters. Parts are joined in order.
``msg`` is the OSCP message in its wire (snake_case) form, validated by the same serializers as
messages partners send us."""

from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.choices import PartnerRole
from connections.oscp.serializers import (
    AssetMeasurementsSerializer,
    ComplianceErrorSerializer,
    ForecastSerializer,
    GroupMeasurementsSerializer,
    HandshakeSerializer,
    behaviour_wire,
)
from connections.selectors import partner_list
from groups.models import CapacityGroup
from groups.selectors import group_list
from oscp_platform.api import TimestampField
from oscp_platform.parsing import json_loads_strict

from ..choices import INSTRUCTION_TOPIC, InstructionAction, InstructionState
from ..models import Forecast, Instruction
from ..selectors import forecast_in_force

MSG_PART_LENGTH = 256
PARAM_NAMES = ("action", "coId", "cgIdentifier", "msg", "correlationId")
WIRE_SERIALIZERS = {
    InstructionAction.ADJUST: ForecastSerializer,
    InstructionAction.COMPLIANCE_ERROR: ComplianceErrorSerializer,
    InstructionAction.HANDSHAKE: HandshakeSerializer,
    InstructionAction.UPDATE_GROUP_MEASUREMENTS: GroupMeasurementsSerializer,
    InstructionAction.UPDATE_ASSET_MEASUREMENTS: AssetMeasurementsSerializer,
}


def _param_name(key: str) -> str | None:
    """``params.msg`` or ``params[msg]`` -> ``msg``."""
    if key.startswith("params.") and len(key) > len("params."):
        return key[len("params.") :]
    if key.startswith("params[") and key.endswith("]") and len(key) > len("params[]"):
        return key[len("params[") : -1]
    return None


def instruction_input(*, data, query: QueryDict, topic: str | None = None) -> dict:
    """The request as one dict for ``InstructionAddSerializer``: JSON as it is; form fields (and
    query parameters, which SolarNetwork tools may use instead) gathered into ``params``."""
    if isinstance(data, QueryDict) or (not data and query):
        gathered: dict[str, list[str]] = {}
        for source in (query, data or QueryDict()):
            for key, values in source.lists():
                gathered.setdefault(key, []).extend(values)
        result: dict = {"params": {}}
        for key, values in gathered.items():
            name = _param_name(key)
            value = values if len(values) > 1 or name == "msg" else values[0]
            if name:
                result["params"][name] = value
            elif key in ("topic", "nodeId"):
                result[key] = value
    elif isinstance(data, dict):
        result = dict(data)
    else:
        raise serializers.ValidationError("Expected a JSON object with nodeId and params.")
    if topic is not None:
        if result.get("topic") not in (None, topic):
            raise serializers.ValidationError({"topic": f"Differs from the topic in the URL ({topic})."})
        result["topic"] = topic
    return result


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "The OSCP message as JSON text, or its parts (each at most 256 characters) in order.",
    }
)
class MsgField(serializers.Field):
    default_error_messages = {"invalid": "Expected the message as a JSON string, or a list of strings (its parts)."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if isinstance(data, list) and data and all(isinstance(part, str) for part in data):
            return "".join(data)
        self.fail("invalid")

    def to_representation(self, value):
        return value


class InstructionParamsSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="One of " + ", ".join(InstructionAction.values) + ".")
    coId = serializers.CharField(max_length=20, help_text="configId of one of your Capacity Optimizers.")
    cgIdentifier = serializers.CharField(max_length=64, help_text="identifier of one of your Capacity Groups.")
    msg = MsgField()
    correlationId = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=128,
        default="",
        help_text="Request id of the forecast this message is about (sent as X-Correlation-ID).",
    )

    def validate_action(self, value):
        if value not in InstructionAction.values:
            raise serializers.ValidationError(
                f'"{value}" is not supported; expected one of {", ".join(InstructionAction.values)}.'
            )
        return value

    def validate_coId(self, value):
        if not value.isdigit():
            raise serializers.ValidationError("Must be the configId (a number) of a Capacity Optimizer.")
        return value


def _param_error(name: str, text) -> serializers.ValidationError:
    return serializers.ValidationError({"params": {name: text if isinstance(text, dict) else [text]}})


class InstructionAddSerializer(serializers.Serializer):
    topic = serializers.CharField(help_text=f"Must be {INSTRUCTION_TOPIC} (given by the URL in /instr/add/{{topic}}).")
    nodeId = serializers.IntegerField(min_value=1, help_text="The node the instruction is associated with.")
    params = InstructionParamsSerializer()

    def validate_topic(self, value):
        if value != INSTRUCTION_TOPIC:
            raise serializers.ValidationError(f'"{value}" is not supported; expected {INSTRUCTION_TOPIC}.')
        return value

    def validate(self, attrs):
        owner = self.context["request"].user
        params = attrs["params"]
        group = (
            group_list(user=owner).select_related("capacity_provider").filter(identifier=params["cgIdentifier"]).first()
        )
        if group is None:
            raise _param_error("cgIdentifier", "No capacity group with this identifier in your account.")
        optimizer = partner_list(user=owner, role=PartnerRole.CAPACITY_OPTIMIZER).filter(id=params["coId"]).first()
        if optimizer is None:
            raise _param_error("coId", "No Capacity Optimizer with this configId in your account.")
        if group.capacity_optimizer_id != optimizer.id:
            raise _param_error("coId", f"Not the Capacity Optimizer of group {group.identifier}.")

        action = params["action"]
        body = self._message(action=action, text=params["msg"], group=group)
        forecast = None
        if action == InstructionAction.COMPLIANCE_ERROR:
            forecast = self._forecast(group=group, correlation_id=params["correlationId"])
        stored = {name: params[name] for name in PARAM_NAMES if params.get(name) != ""}
        return {
            "node_id": attrs["nodeId"],
            "action": action,
            "params": stored,
            "group": group,
            "body": body,
            "forecast": forecast,
            "correlation_id": params["correlationId"],
        }

    def _message(self, *, action: str, text: str, group: CapacityGroup) -> dict:
        try:
            message = json_loads_strict(text)
        except ValueError as exc:
            raise _param_error("msg", f"Not valid JSON: {exc}.") from exc
        if not isinstance(message, dict):
            raise _param_error("msg", "Expected a JSON object.")
        wire = WIRE_SERIALIZERS[action](data=message, context={"deviations": []})
        if not wire.is_valid():
            raise _param_error("msg", wire.errors)
        body = dict(wire.validated_data)
        if body.get("group_id", group.identifier) != group.identifier:
            raise _param_error("msg", {"group_id": [f'Must be the group in cgIdentifier ("{group.identifier}").']})
        if action == InstructionAction.HANDSHAKE:
            behaviour = body.get("required_behaviour")
            body["required_behaviour"] = None if behaviour is None else behaviour_wire(**behaviour)
        return body

    def _forecast(self, *, group: CapacityGroup, correlation_id: str) -> Forecast | None:
        """The forecast a compliance error is about. A correlation id naming no forecast we know is
        relayed as given and recorded as not linked (seed 002's own example uses an arbitrary id)."""
        if correlation_id:
            return Forecast.objects.filter(group=group, request_id=correlation_id).order_by("-received_at").first()
        forecast = forecast_in_force(group=group, at=timezone.now())
        if forecast is None:
            raise _param_error(
                "correlationId", "No forecast is in force for this group: give the request id of the forecast."
            )
        return forecast


class InstructionQuerySerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=1)


class InstructionParameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField()


def instruction_parameters(params: dict) -> list[dict]:
    """Parameters as SolarNetwork lists them: ``msg`` split into parts of at most 256 characters."""
    parameters = []
    ordered = [name for name in PARAM_NAMES if name in params] + sorted(set(params) - set(PARAM_NAMES))
    for name in ordered:  # jsonb does not keep key order
        value = params[name]
        if name == "msg":
            parts = [value[i : i + MSG_PART_LENGTH] for i in range(0, len(value), MSG_PART_LENGTH)] or [""]
            parameters += [{"name": "msg", "value": part} for part in parts]
        else:
            parameters.append({"name": name, "value": value})
    return parameters


class InstructionSerializer(serializers.ModelSerializer):
    nodeId = serializers.IntegerField(source="node_id")
    state = serializers.ChoiceField(choices=InstructionState.choices, read_only=True)
    created = TimestampField()
    instructionDate = TimestampField(source="created")
    statusDate = TimestampField(source="status_date")
    parameters = serializers.SerializerMethodField()
    resultParameters = serializers.SerializerMethodField()

    class Meta:
        model = Instruction
        fields = [
            "id",
            "topic",
            "nodeId",
            "state",
            "created",
            "instructionDate",
            "statusDate",
            "parameters",
            "resultParameters",
        ]

    @extend_schema_field(InstructionParameterSerializer(many=True))
    def get_parameters(self, instruction: Instruction) -> list[dict]:
        return instruction_parameters(instruction.params)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_resultParameters(self, instruction: Instruction) -> dict:
        """The outbound message: its id in the message log, X-Request-ID, status and, when it was
        refused, why."""
        message = instruction.message
        if message is None:
            return {}
        result = {"messageId": message.id, "requestId": message.request_id, "messageStatus": message.status}
        if instruction.state == InstructionState.DECLINED and message.error:
            result["message"] = message.error
        return result
