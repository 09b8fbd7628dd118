"""deploy/template.yaml rendered as CloudFormation would, for given parameter values: shared by
the template, IAM policy and image tests."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

from tests.support.servers import REPO

TEMPLATE = REPO / "deploy" / "template.yaml"
REQUIRED = {
    "ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/backupnimbus:0.1.0",
    "MongoUri": "mongodb+srv://backup:s3cret@cluster0.example.net/shop",
    "BucketName": "acme-mongo-backups",
}
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "backupnimbus",
}
NO_VALUE = object()


# --- rendering the template as CloudFormation would --------------------------------------------


class Rendered:
    """The template with parameters substituted, conditions decided, Fn::If resolved and
    AWS::NoValue removed; references to resources stay as {"Ref": ...} / {"Fn::GetAtt": ...}."""

    def __init__(self, overrides: Mapping[str, str]) -> None:
        self.template = cfn_yaml.load(str(TEMPLATE))
        declared = self.template["Parameters"]
        unknown = set(overrides) - set(declared)
        assert not unknown, f"not parameters of the template: {unknown}"
        self.params = {
            name: str(overrides.get(name, REQUIRED.get(name, spec.get("Default"))))
            for name, spec in declared.items()
        }
        for name, spec in declared.items():
            pattern = spec.get("AllowedPattern")
            if pattern and spec["Type"] == "String":
                assert re.match(pattern, self.params[name]), f"{name} rejected by the template"
            if "AllowedValues" in spec:
                assert self.params[name] in {str(v) for v in spec["AllowedValues"]}, name
        self.conditions: dict[str, bool] = {}
        for name in self.template["Conditions"]:
            self.condition(name)
        self.rejected = [
            assertion["AssertDescription"]
            for rule in self.template["Rules"].values()
            if self.resolve(rule.get("RuleCondition", True))
            for assertion in rule["Assertions"]
            if not self.resolve(assertion["Assert"])
        ]
        self.resources = {
            name: self.resolve(body)
            for name, body in self.template["Resources"].items()
            if "Condition" not in body or self.conditions[body["Condition"]]
        }

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def props(self, name: str) -> Any:
        return self.resources[name]["Properties"]

    def of_type(self, kind: str) -> dict[str, Any]:
        return {name: body for name, body in self.resources.items() if body["Type"] == kind}

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()  # fmt: skip
            resolved = self._function(key, value)
            if resolved is not None:
                return resolved
        fields = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in fields.items() if value is not NO_VALUE}

    def _function(self, key: str, value: Any) -> Any:
        if key == "Ref":
            if value == "AWS::NoValue":
                return NO_VALUE
            if value in PSEUDO:
                return PSEUDO[value]
            if value in self.params:
                declared = self.template["Parameters"][value]["Type"]
                text = self.params[value]
                return text.split(",") if declared == "CommaDelimitedList" else text
            return {"Ref": value}
        if key == "Fn::If":
            name, yes, no = value
            return self.resolve(yes if self.condition(name) else no)
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(value[0])
        if key == "Fn::Or":
            return any(self.resolve(v) for v in value)
        if key == "Fn::And":
            return all(self.resolve(v) for v in value)
        if key == "Fn::EachMemberEquals":
            items, wanted = (self.resolve(v) for v in value)
            return all(item == wanted for item in items)
        if key == "Fn::Base64":
            return base64.b64encode(str(self.resolve(value)).encode()).decode()
        if key == "Fn::Join":
            separator, parts = value
            return separator.join(str(p) for p in self.resolve(parts))
        if key == "Fn::Split":
            separator, text = value
            return str(self.resolve(text)).split(separator)
        if key == "Fn::Select":
            index, items = value
            return self.resolve(items)[int(index)]
        if key == "Fn::Sub":
            text, raw = (value, {}) if isinstance(value, str) else value
            names = {k: self.resolve(v) for k, v in raw.items()}

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in names:
                    return str(names[name])
                if name in PSEUDO:
                    return PSEUDO[name]
                if name in self.params:
                    return self.params[name]
                return "${" + name + "}"  # a resource attribute, known only at deploy time

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        return None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
