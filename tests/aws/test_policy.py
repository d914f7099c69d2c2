"""The resource-level IAM check the AWS-mode test adds to moto (tests/aws/policy.py)."""

from __future__ import annotations

from tests.aws.policy import allowed, requested

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/wagate-Table-X"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-0000-0000-0000-000000000000"
CRUD = {
    "Effect": "Allow",
    "Action": ["dynamodb:PutItem", "dynamodb:Query"],
    "Resource": [TABLE, f"{TABLE}/index/*"],
}


def test_an_action_on_another_table_is_denied() -> None:
    assert allowed([CRUD], "dynamodb:PutItem", TABLE)
    assert allowed([CRUD], "dynamodb:Query", f"{TABLE}/index/gsi1")
    assert not allowed([CRUD], "dynamodb:PutItem", TABLE.replace("Table-X", "Other"))
    assert not allowed([CRUD], "dynamodb:DeleteItem", TABLE)


def test_actions_match_without_case_and_with_wildcards_resources_with_case() -> None:
    send = {"Effect": "Allow", "Action": "sqs:SendMessage*", "Resource": "arn:aws:sqs:us-east-1:1:app-Queue*"}
    assert allowed([send], "SQS:sendmessage", "arn:aws:sqs:us-east-1:1:app-Queue0.fifo")
    assert allowed([send], "sqs:SendMessageBatch", "arn:aws:sqs:us-east-1:1:app-Queue1")
    assert not allowed([send], "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:app-queue1")


def test_an_explicit_deny_wins() -> None:
    deny = {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
    assert not allowed([CRUD, deny], "dynamodb:PutItem", TABLE)


def test_a_statement_whose_condition_the_call_lacks_does_not_apply() -> None:
    via_sqs = {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}},
    }
    assert not allowed([via_sqs], "kms:Decrypt", KEY)
    assert allowed([via_sqs], "kms:Decrypt", KEY, {"kms:ViaService": "sqs.us-east-1.amazonaws.com"})


def test_calls_map_to_the_iam_actions_aws_authorizes() -> None:
    transact = {
        "TransactItems": [
            {"Put": {"TableName": "T", "Item": {}}},
            {"ConditionCheck": {"TableName": "T", "Key": {}}},
        ]
    }
    assert requested("dynamodb", "TransactWriteItems", transact, "api", "live") == [
        ("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/T"),
        ("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:us-east-1:123456789012:table/T"),
    ]
    assert requested("sqs", "GetQueueUrl", {"QueueName": "q.fifo"}, "api", "live") == [
        ("sqs:GetQueueUrl", "arn:aws:sqs:us-east-1:123456789012:q.fifo")
    ]
    assert requested("sqs", "DeleteMessageBatch", {"QueueUrl": "http://x/123456789012/q"}, "api", "live") == [
        ("sqs:DeleteMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    ]
    assert requested(
        "apigatewaymanagementapi", "PostToConnection", {"ConnectionId": "c="}, "abc", "live"
    ) == [
        (
            "execute-api:ManageConnections",
            "arn:aws:execute-api:us-east-1:123456789012:abc/live/POST/@connections/c=",
        )
    ]
    assert requested("kms", "GenerateDataKey", {"KeyId": "1234"}, "api", "live") == [
        ("kms:GenerateDataKey", "arn:aws:kms:us-east-1:123456789012:key/1234")
    ]
