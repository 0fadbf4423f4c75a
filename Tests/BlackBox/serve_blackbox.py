"""Black-box checks of `swiftgpt serve`: the official `openai` Python client, and a client
that disconnects mid-stream.

Run by .ci/run after `swift test`: trains a tiny char model and an instruction-tuned copy with
the CLI, serves it on a free loopback port, and checks models.list, completions, streamed chat
and the error classes; then serves a baby GPT (slow enough to watch) and checks that a client
closing its connection frees the slot at once. Prints 'N passed, M failed' and exits non-zero
on a failure.
"""
import json, os, re, socket, tempfile, time, urllib.request

import openai

from blackbox import check, finish, run, serve, stop, stopped_generating, train_chat_model

work = tempfile.mkdtemp(prefix="swiftgpt-blackbox-")


train_chat_model(work)

server, url = serve(os.path.join(work, "chat"), "--api-key", "k")
try:
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=60)

    models = [m.id for m in client.models.list()]
    check("models.list names the model", models == ["chat"], models)
    check("models.retrieve gives its card", client.models.retrieve("chat").id == "chat")
    try:
        client.models.retrieve("gpt-4o")
        check("models.retrieve of another model raises NotFoundError", False)
    except openai.NotFoundError as e:
        check("models.retrieve of another model raises NotFoundError", "does not exist" in str(e), e)

    first = client.completions.create(model="chat", prompt="대한민국", max_tokens=6, seed=5, temperature=1)
    again = client.completions.create(model="chat", prompt="대한민국", max_tokens=6, seed=5, temperature=1)
    check("completions: the same seed gives the same text", first.choices[0].text == again.choices[0].text)
    check("completions: usage counts the tokens", first.usage.completion_tokens == 6 and first.usage.prompt_tokens == 4,
          first.usage)

    chunks = list(client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "헌법 제1조?"}],
                                                 max_tokens=8, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "헌법 제1조?"}],
                                           max_tokens=8, temperature=0)
    check("chat: the stream says what the whole answer says", streamed == whole.choices[0].message.content,
          (streamed, whole.choices[0].message.content))
    check("chat: role first, finish reason, then usage",
          chunks[0].choices[0].delta.role == "assistant" and chunks[-2].choices[0].finish_reason in ("stop", "length")
          and chunks[-1].usage is not None)
    parts = client.chat.completions.create(model="chat", max_tokens=8, temperature=0,
                                           messages=[{"role": "user", "content": [{"type": "text", "text": "헌법 제1조?"}]}])
    check("chat: content as a list of text parts reads as the string", parts.choices[0].message.content == whole.choices[0].message.content,
          (parts.choices[0].message.content, whole.choices[0].message.content))

    try:
        client.completions.create(model="chat", prompt="가" * 200, max_tokens=4)
        check("a prompt longer than the context raises BadRequestError", False, "no error")
    except openai.BadRequestError as e:
        check("a prompt longer than the context raises BadRequestError", e.status_code == 400)
    try:
        openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
        check("a wrong API key raises AuthenticationError", False, "no error")
    except openai.AuthenticationError as e:
        check("a wrong API key raises AuthenticationError", e.status_code == 401)
finally:
    code = stop(server)
    check("SIGTERM stops the server", code is not None, code)



# A client that goes away mid-stream: its generation stops after the current token.
run("train", "--model", "baby", "--max-steps", "0", "--eval-steps", "1", "--batch-size", "1",
    "--out", os.path.join(work, "baby"), "--threads", "1")
server, url = serve(os.path.join(work, "baby"), "--parallel", "2")
try:
    names = [m["id"] for m in json.loads(urllib.request.urlopen(url + "/v1/models").read())["data"]]
    check("a run folder is served under the run's name, not its checkpoint's", names == ["baby"], names)
    host, port = re.match(r"http://([0-9.]+):([0-9]+)", url).groups()
    body = json.dumps({"prompt": "대한", "max_tokens": 250, "stream": True, "seed": 1}).encode()
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while data.count(b"data: {") < 2:
        data += s.recv(4096)
    s.close()
    idle, predicted = stopped_generating(url)
    check("a client that disconnects frees its slot and stops its generation", idle and predicted < 250,
          (idle, predicted))
    # The same for a client that waits for the whole answer (it ran to the end, keeping its slot).
    body = json.dumps({"prompt": "대한", "max_tokens": 250, "seed": 1}).encode()
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(0.03)
    s.close()
    idle, after = stopped_generating(url)
    check("a client that disconnects before a whole answer frees its slot too", idle and after - predicted < 250,
          (idle, after - predicted))
finally:
    stop(server)

finish()
