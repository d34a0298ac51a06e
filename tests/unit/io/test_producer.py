"""The producer wrapper's logic on the shipped double: full queues, delivery failures, flush windows, outages."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from scorecast.errors import PermanentError, RetryableError, ServiceUnavailableError
from scorecast.io.librdkafka import LIBRDKAFKA_LOGGER, client_hooks
from scorecast.io.producer import DeliveryError, KafkaProducer
from scorecast.io.testing import ProducerDouble
from scorecast.settings import Settings

SETTINGS = Settings(kafka_bootstrap="127.0.0.1:1")


def wrapper(double: ProducerDouble, **options: Any) -> KafkaProducer:
    def new_client(config: dict[str, Any]) -> ProducerDouble:
        double.config = config
        return double

    return KafkaProducer(SETTINGS, {"linger.ms": 5}, new_client=new_client, **options)


def test_the_client_gets_settings_config_and_the_error_callback() -> None:
    double = ProducerDouble()
    producer = wrapper(double)
    assert double.config["bootstrap.servers"] == "127.0.0.1:1"
    assert double.config["linger.ms"] == 5
    assert "logger" in double.config
    assert double.config["error_cb"] is producer._brokers


def test_a_full_queue_is_waited_out_then_the_message_queued() -> None:
    double = ProducerDouble(full_times=3)
    producer = wrapper(double)
    producer.produce("t", b"v", b"k", tag=7)
    assert len(double.produced) == 1
    assert double.polls >= 3
    assert producer.flush(1.0).delivered == 1


def test_a_queue_that_stays_full_is_a_bounded_wait() -> None:
    producer = wrapper(ProducerDouble(full_times=10**9), max_queue_wait_s=0.2)
    with pytest.raises(RetryableError, match="queue still full"):
        producer.produce("t", b"v")


def test_delivery_failures_are_translated_and_carry_the_callers_tag() -> None:
    producer = wrapper(ProducerDouble(fail_with=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
    for position in range(3):
        producer.produce("big", b"v", b"k%d" % position, tag=position)
    with pytest.raises(DeliveryError, match=r"3 of 3 messages to big not delivered") as caught:
        producer.flush(1.0)
    assert [f.tag for f in caught.value.permanent] == [0, 1, 2]
    assert all(isinstance(f.error, PermanentError) for f in caught.value.failures)
    assert isinstance(caught.value, RetryableError)  # the batch as a whole: retry what is not permanent


def test_retryable_delivery_failures_are_not_permanent() -> None:
    producer = wrapper(ProducerDouble(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT)))
    producer.produce("t", b"v")
    with pytest.raises(DeliveryError) as caught:
        producer.flush(1.0)
    assert caught.value.permanent == []


def test_each_flush_raises_only_for_its_own_window() -> None:
    double = ProducerDouble(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT))
    producer = wrapper(double)
    producer.produce("t", b"v")
    with pytest.raises(DeliveryError):
        producer.flush(1.0)
    double.fail_with = None
    producer.produce("t", b"v")
    report = producer.flush(1.0)
    assert (report.sent, report.delivered, report.failed) == (2, 1, 1)


def test_messages_left_queued_count_as_failed() -> None:
    producer = wrapper(ProducerDouble(deliver=False))
    producer.produce("t", b"v")
    producer.produce("t", b"v")
    with pytest.raises(DeliveryError, match=r"2 of 2 messages to t not delivered .*still undelivered"):
        producer.flush(0.2)
    assert producer.report.pending == 0


def test_failures_beyond_the_bound_are_counted_not_kept() -> None:
    producer = wrapper(ProducerDouble(fail_with=KafkaError(KafkaError._MSG_TIMED_OUT)), max_kept_failures=2)
    for _ in range(5):
        producer.produce("t", b"v")
    report = producer.flush(1.0, raise_on_failure=False)
    assert (report.failed, len(report.failures)) == (5, 2)


def test_a_long_running_producer_keeps_only_the_current_windows_failures() -> None:
    # A worker's producer lives through many outages: failures of flushed windows must neither pile up nor use
    # up the bound, or a later window's permanent failure could no longer be matched to its record.
    producer = wrapper(
        ProducerDouble(fail_with=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)), max_kept_failures=2, keep_failures=False
    )
    for window in range(3):
        for _ in range(2):
            producer.produce("t", b"v", tag=window)
        with pytest.raises(DeliveryError) as caught:
            producer.flush(1.0)
        assert [f.tag for f in caught.value.permanent] == [window, window]
        assert len(producer.report.failures) == 0
    assert producer.report.failed == 6


def test_probe_of_an_unreachable_cluster_names_the_setting() -> None:
    producer = wrapper(ProducerDouble(reachable=False))
    with pytest.raises(ServiceUnavailableError, match="SCORECAST_KAFKA_BOOTSTRAP"):
        producer.probe(0.1)


def test_a_flush_gives_up_once_brokers_are_down_long_enough() -> None:
    double = ProducerDouble()
    producer = wrapper(double, unreachable_after_s=0.0)
    producer.produce("t", b"v")
    double.reachable = False
    with pytest.raises(DeliveryError) as caught:
        producer.flush(30.0)  # would wait 30 s without the outage check
    assert isinstance(caught.value.failures[-1].error, ServiceUnavailableError)


def test_a_worker_keeps_waiting_through_an_outage() -> None:
    double = ProducerDouble()
    producer = wrapper(double)  # unreachable_after_s=None: wait for the flush timeout
    producer.produce("t", b"v")
    double.reachable = False
    with pytest.raises(DeliveryError, match=r"still undelivered after 0\.3s"):
        producer.flush(0.3)


def test_a_full_queue_gives_up_once_brokers_are_down() -> None:
    double = ProducerDouble(full_times=10**9, reachable=False)
    producer = wrapper(double, unreachable_after_s=0.0)
    with pytest.raises(ServiceUnavailableError):
        producer.produce("t", b"v")


def test_librdkafka_log_lines_are_debug_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = client_hooks()["logger"]
    with caplog.at_level(logging.DEBUG, LIBRDKAFKA_LOGGER):
        logger.log(logging.ERROR, "%s: %s", "FAIL", "Connect to ipv4#127.0.0.1:1 failed")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (LIBRDKAFKA_LOGGER, logging.DEBUG, "FAIL: Connect to ipv4#127.0.0.1:1 failed")
    ]


class _RefusingDouble(ProducerDouble):
    """librdkafka refusing a message in produce() itself, as it does past message.max.bytes."""

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None, **options: Any) -> None:
        raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Unable to produce message: too large"))


def test_a_message_refused_in_produce_is_a_permanent_error_not_a_kafka_exception() -> None:
    producer = wrapper(_RefusingDouble())
    with pytest.raises(PermanentError, match=r"Kafka topic big: .*too large"):
        producer.produce("big", b"v" * 10)
    assert producer.report.sent == 0
