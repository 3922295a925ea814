"""describe.py: methods described with parameters, JSON Schemas, return types and docs."""

import typing
import unittest
from typing import Dict, List, Literal, Optional, Union

from robot_agent_host.describe import describe_callable, describe_objects, schema_of, summary


class Arm:
    """A robot arm.

    Longer text that is not the summary.
    """

    def move(self, x: float, y: float = 0.0, *, speed: Optional[int] = None) -> Dict[str, float]:
        """Moves the tip to (x, y) in metres.

        More detail."""
        return {"x": x, "y": y}

    async def wave(self, times: int = 1, style: Literal["big", "small"] = "big") -> List[str]:
        return ["wave"] * times

    def anything(self, value, *rest, **more):
        return value

    def odd(self, when: object = object()):
        return None


class SchemaTest(unittest.TestCase):
    def test_simple_types_map_to_json_schema_types(self):
        self.assertEqual(schema_of(int), {"type": "integer"})
        self.assertEqual(schema_of(float), {"type": "number"})
        self.assertEqual(schema_of(str), {"type": "string"})
        self.assertEqual(schema_of(bool), {"type": "boolean"})
        self.assertEqual(schema_of(dict), {"type": "object"})
        self.assertEqual(schema_of(None), {"type": "null"})

    def test_generic_types_map_with_their_arguments(self):
        self.assertEqual(schema_of(List[float]), {"type": "array", "items": {"type": "number"}})
        self.assertEqual(schema_of(Dict[str, int]), {"type": "object"})
        self.assertEqual(
            schema_of(Optional[str]), {"anyOf": [{"type": "string"}, {"type": "null"}]}
        )
        self.assertEqual(
            schema_of(Union[int, str]), {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        )
        self.assertEqual(schema_of(Literal["a", "b"]), {"enum": ["a", "b"]})

    def test_what_does_not_map_has_no_schema(self):
        self.assertIsNone(schema_of(typing.Any))
        self.assertIsNone(schema_of(object))
        self.assertIsNone(schema_of(Union[int, object]))


class DescribeTest(unittest.TestCase):
    def test_a_method_is_described_with_kinds_defaults_annotations_and_its_summary(self):
        move = describe_callable(Arm().move)
        self.assertEqual(move["doc"], "Moves the tip to (x, y) in metres.")
        self.assertFalse(move["async"])
        self.assertEqual(move["returns"], {"annotation": "Dict[str, float]", "schema": {"type": "object"}})
        names = [(p["name"], p["kind"], p["required"], p.get("default")) for p in move["params"]]
        self.assertEqual(names, [
            ("x", "positional_or_keyword", True, None),
            ("y", "positional_or_keyword", False, 0.0),
            ("speed", "keyword_only", False, None),
        ])
        self.assertEqual(move["params"][0]["schema"], {"type": "number"})
        self.assertEqual(move["params"][2]["annotation"], "Optional[int]")

    def test_async_methods_and_literal_parameters(self):
        wave = describe_callable(Arm().wave)
        self.assertTrue(wave["async"])
        self.assertEqual(wave["params"][1]["schema"], {"enum": ["big", "small"]})
        self.assertIsNone(wave["doc"])

    def test_unannotated_and_variadic_parameters_have_no_schema(self):
        params = describe_callable(Arm().anything)["params"]
        self.assertEqual([p["kind"] for p in params], ["positional_or_keyword", "var_positional", "var_keyword"])
        self.assertTrue(all(p["schema"] is None for p in params))
        self.assertEqual([p["required"] for p in params], [True, False, False])

    def test_a_default_json_cannot_carry_is_given_as_its_repr(self):
        when = describe_callable(Arm().odd)["params"][0]
        self.assertTrue(when["default_repr"])
        self.assertIn("object", when["default"])

    def test_the_hash_changes_when_the_interface_does(self):
        arm = Arm()
        one = describe_objects({"arm": (arm, ["move", "wave"])})
        again = describe_objects({"arm": (arm, ["move", "wave"])})
        fewer = describe_objects({"arm": (arm, ["move"])})
        self.assertEqual(one["hash"], again["hash"])
        self.assertNotEqual(one["hash"], fewer["hash"])
        self.assertEqual(one["objects"]["arm"]["doc"], "A robot arm.")
        self.assertFalse(one["objects"]["arm"]["class"])
        self.assertTrue(describe_objects({"Arm": (Arm, ["move"])})["objects"]["Arm"]["class"])

    def test_summary_is_the_first_paragraph_on_one_line(self):
        self.assertEqual(summary(Arm), "A robot arm.")


if __name__ == "__main__":
    unittest.main()


class ClassTargetTest(unittest.TestCase):
    def test_a_class_target_is_described_without_self(self):
        class Tool:
            def use(self, force: float = 1.0):
                return force

            @staticmethod
            def name(short: bool = False):
                return "tool"

        described = describe_objects({"Tool": (Tool, ["use", "name"])})["objects"]["Tool"]
        self.assertEqual([p["name"] for p in described["methods"]["use"]["params"]], ["force"])
        self.assertEqual([p["name"] for p in described["methods"]["name"]["params"]], ["short"])
