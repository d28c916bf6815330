"""Drives RingMQ with the Python `rocketmq` 0.4.4 client (its wheel bundles
Apache's C++ client), for broker/tests/interop/python.rs. Prints one JSON
object on stdout.

  produce <namesrv> <topic> <prefix>
  consume <namesrv> <topic> <group> <expression> <count> <timeout_s>
"""
import json
import sys
import time

from rocketmq.client import Message, Producer, PushConsumer


def now_ms():
    return int(time.time() * 1000)


def message(topic, tag, body, key):
    m = Message(topic)
    m.set_tags(tag)
    m.set_keys(key)
    m.set_body(body)
    return m


def retrying(send):
    # The C++ client fetches a route from the name server with a 3 s
    # timeout and, when that fetch fails, gives up the send with "No route
    # info" before sending anything. This happened now and then in CI (not
    # reproduced here); an application retries such a send, and so does
    # this, for up to 20 s. Any other error is raised at once.
    deadline = time.time() + 20
    while True:
        try:
            return send()
        except Exception as e:
            if "No route info" not in str(e) or time.time() > deadline:
                raise
            time.sleep(1)


def produce(ns, topic, prefix):
    p = Producer("py-pg-" + prefix)
    p.set_namesrv_addr(ns)
    p.start()
    sent = []
    try:
        # sync, alternating tags
        for i in range(6):
            tag = "TA" if i % 2 == 0 else "TB"
            m = message(topic, tag, "%s-sync-%d" % (prefix, i), "k%d" % i)
            r = retrying(lambda: p.send_sync(m))
            sent.append({"body": "%s-sync-%d" % (prefix, i), "tag": tag, "status": int(r.status), "id": r.msg_id})
        # ordered: one key, one queue
        for i in range(4):
            m = message(topic, "TA", "%s-order-%d" % (prefix, i), "order")
            r = retrying(lambda: p.send_orderly(m, 7))
            sent.append({"body": "%s-order-%d" % (prefix, i), "tag": "TA", "status": int(r.status), "id": r.msg_id, "offset": r.offset})
        # batch
        batch = [message(topic, "TA", "%s-batch-%d" % (prefix, i), "b%d" % i) for i in range(3)]
        r = retrying(lambda: p.send_batch(batch))
        for i in range(3):
            sent.append({"body": "%s-batch-%d" % (prefix, i), "tag": "TA", "status": int(r.status), "id": r.msg_id})
        # delay level 2 (5 s)
        m = message(topic, "TA", "%s-delay" % prefix, "d")
        m.set_delay_time_level(2)
        before = now_ms()
        r = retrying(lambda: p.send_sync(m))
        sent.append({"body": "%s-delay" % prefix, "tag": "TA", "status": int(r.status), "id": r.msg_id, "before_ms": before})
    finally:
        p.shutdown()
    print(json.dumps({"sent": sent}))


def consume(ns, topic, group, expression, count, timeout_s):
    got = []

    def on_message(msg):
        got.append({
            "body": msg.body.decode(),
            "tag": msg.tags.decode() if msg.tags else "",
            "queue": msg.queue_id,
            "offset": msg.queue_offset,
            "reconsume": msg.reconsume_times,
            "at_ms": now_ms(),
            "stored_ms": msg.store_timestamp,
        })

    c = PushConsumer(group)
    c.set_namesrv_addr(ns)
    c.subscribe(topic, on_message, expression)
    c.start()
    deadline = time.time() + timeout_s
    while len(got) < count and time.time() < deadline:
        time.sleep(0.1)
    # Time for a duplicate to show, and for the offsets to be committed.
    time.sleep(2)
    c.shutdown()
    print(json.dumps({"got": got}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), float(sys.argv[7]))
    else:
        sys.exit("unknown command " + cmd)
