"""Black-box checks of the playground in a real browser: Debian's chromium and chromedriver,
driven by Selenium, against `swiftgpt serve` and `swiftgpt train --dashboard`.

Run by .ci/run after `swift test` (which installs the three). Trains a tiny char model and an
instruction-tuned copy; checks that the tokenizer page shows the segments and ids `/tokenize`
gives (Korean, emoji; the model's tokenizer, gpt2 and cl100k_base), hover, side by side,
ChatML; that a chat streams to its end, shaded by probability; that Stop cancels the
generation on the server; and that a 20-step training run's points appear on the dashboard.
Saves screenshots (argument 2, default a temporary folder) and prints 'N passed, M failed'.
"""
import json, os, re, signal, subprocess, sys, tempfile, time, urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from blackbox import BIN, check, finish, run, serve, stop, stopped_generating, train_chat_model

work = tempfile.mkdtemp(prefix="swiftgpt-browser-")
shots = sys.argv[2] if len(sys.argv) > 2 else os.path.join(work, "screenshots")
os.makedirs(shots, exist_ok=True)


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request).read())


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, condition, seconds=15):
    return WebDriverWait(driver, seconds).until(lambda d: d.execute_script(condition))


def no_script_errors(driver, page):
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check(f"{page}: no JavaScript errors", not errors, errors)


train_chat_model(work)

driver = browser()
server, url = serve(os.path.join(work, "chat"))
try:
    # The tokenizer page: what it shows is what /tokenize says.
    driver.get(url + "/")
    wait(driver, "return document.getElementById('pane-a').dataset.done === '1'")
    shown = """return [...document.querySelectorAll('#pane-a .viz span')].map(s => [s.textContent, s.dataset.ids])"""
    for text in ["대한민국은 민주공화국이다.", "안녕 👋🏽 SwiftGPT! 🇰🇷", "Hello, world\n  indented"]:
        for name in ["model", "gpt2", "cl100k_base"]:
            driver.execute_script("""const [text, name] = arguments;
                const area = document.getElementById('text'), select = document.getElementById('tokenizer-a');
                select.value = name; area.value = text; area.dispatchEvent(new Event('input'));""", text, name)
            wait(driver, f"const p = document.getElementById('pane-a'); return p.dataset.done === '1' && p.dataset.tokenizer === '{name}'")
            answer = post(url + "/tokenize", {"content": text, "tokenizer": name, "with_segments": True})
            expected = [[s["text"], ",".join(map(str, s["ids"]))] for s in answer["segments"]]
            got = driver.execute_script(shown)
            check(f"tokenizer page, {name}, {text[:12]!r}: segments and ids equal /tokenize", got == expected, (got, expected))
            check(f"tokenizer page, {name}, {text[:12]!r}: no broken bytes", all("\ufffd" not in s for s, _ in got), got)
            counts = driver.find_element(By.CSS_SELECTOR, "#pane-a .counts").text
            check(f"tokenizer page, {name}: counts tokens and bytes",
                  counts.startswith(f"{answer['count']} tokens") and f"{len(text.encode())} bytes" in counts, counts)
    # Hovering a segment lights its ids.
    segment = driver.find_elements(By.CSS_SELECTOR, "#pane-a .viz span")[1]
    ActionChains(driver).move_to_element(segment).perform()
    lit = driver.execute_script("return [...document.querySelectorAll('#pane-a .ids span.lit')].map(s => s.textContent).join(',')")
    check("tokenizer page: hover lights the segment's ids", lit == segment.get_attribute("data-ids"), (lit, segment.get_attribute("data-ids")))
    # A character the model's vocabulary lacks is shown struck out, not lost.
    driver.execute_script("""document.getElementById('tokenizer-a').value = 'model';
        const area = document.getElementById('text'); area.value = '헌법 ☃ 제1조'; area.dispatchEvent(new Event('input'));""")
    wait(driver, "const p = document.getElementById('pane-a'); return p.dataset.done === '1' && p.dataset.tokenizer === 'model' && p.querySelector('.viz').textContent === '헌법 ☃ 제1조'")
    left_out = driver.execute_script("return [...document.querySelectorAll('#pane-a .viz span.left-out')].map(s => s.textContent + ':' + s.dataset.ids)")
    counts = driver.find_element(By.CSS_SELECTOR, "#pane-a .counts").text
    check("tokenizer page: a character the model never saw is struck out and counted", left_out == ["☃:"] and counts.endswith("1 left out"), (left_out, counts))
    driver.save_screenshot(os.path.join(shots, "tokenizer-left-out.png"))
    # Side by side, whitespace shown, Korean text.
    driver.execute_script("""document.getElementById('tokenizer-a').value = 'gpt2';
        const area = document.getElementById('text'); area.value = '대한민국 헌법 제1조 ① 대한민국은 민주공화국이다.\\n② 모든 권력은 국민으로부터 나온다. 👍';
        document.getElementById('compare').click(); document.getElementById('whitespace').click();""")
    wait(driver, "return ['pane-a', 'pane-b'].every(id => document.getElementById(id).dataset.done === '1') && document.getElementById('pane-b').dataset.tokenizer === 'cl100k_base'")
    text_b = driver.execute_script("return document.querySelector('#pane-b .viz').textContent")
    check("tokenizer page: side by side, whitespace shown as · and ↵", "·" in text_b and "↵" in text_b and not driver.find_element(By.ID, "pane-b").get_attribute("hidden"), text_b)
    driver.save_screenshot(os.path.join(shots, "tokenizer.png"))
    # ChatML messages with the model's own markers.
    driver.execute_script("""document.getElementById('compare').click(); document.getElementById('whitespace').click();
        document.getElementById('tokenizer-a').value = 'model'; document.querySelector('input[value=chat]').click();""")
    wait(driver, "const p = document.getElementById('pane-a'); return p.dataset.done === '1' && p.dataset.tokenizer === 'model' && p.querySelector('.viz').textContent.startsWith('<|im_start|>')")
    first = driver.execute_script("return document.querySelector('#pane-a .viz span').dataset.ids")
    markers = post(url + "/tokenize", {"messages": [{"role": "user", "content": "x"}], "with_pieces": True})["tokens"][0]
    check("tokenizer page: ChatML messages start with the model's <|im_start|> token", first == str(markers["id"]) and markers["piece"] == "<|im_start|>",
          (first, markers))
    driver.save_screenshot(os.path.join(shots, "tokenizer-chatml.png"))
    no_script_errors(driver, "tokenizer page")

    # The chat page: a streamed answer to its end, each piece shaded by its probability.
    driver.get(url + "/chat")
    wait(driver, "return document.getElementById('status').textContent.includes('slots')")
    driver.execute_script("""document.getElementById('seed').value = '3'; document.getElementById('max-tokens').value = '24';
        document.getElementById('presence-penalty').value = '1.5';""")
    driver.find_element(By.ID, "input").send_keys("헌법 제1조?")
    driver.find_element(By.ID, "send").click()
    wait(driver, "const t = document.querySelector('.turn.assistant'); return t && t.dataset.done === '1'", 30)
    finish_reason = driver.execute_script("return document.querySelector('.turn.assistant').dataset.finish")
    shaded = driver.execute_script("return [...document.querySelectorAll('.turn.assistant .text span')].map(s => [s.textContent, Number(s.dataset.p), s.style.background])")
    check("chat page: the stream completes", finish_reason in ("stop", "length"), finish_reason)
    check("chat page: each piece has a probability and a shade",
          shaded and all(0 < p <= 1 and background.startswith("rgb") for _, p, background in shaded), shaded)
    whole = post(url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "헌법 제1조?"}], "seed": 3, "max_tokens": 24,
                                                "temperature": 0.8, "top_k": 40, "top_p": 0.95, "presence_penalty": 1.5})
    check("chat page: the answer is the API's for the same seed and penalty", "".join(s for s, _, _ in shaded) == whole["choices"][0]["message"]["content"],
          ("".join(s for s, _, _ in shaded), whole["choices"][0]["message"]["content"]))
    check("chat page: tokens/s shown", re.search(r"[0-9.]+ tokens/s", driver.find_element(By.ID, "stats").text), driver.find_element(By.ID, "stats").text)
    driver.save_screenshot(os.path.join(shots, "chat.png"))
    no_script_errors(driver, "chat page")
finally:
    stop(server)

# Stop cancels on the server: a baby GPT with a 4096-token context, asked for 4000 tokens (about
# 16 s on one thread: 250 could end before the click arrived, and once so did 2000, in 6 s),
# completion mode.
run("train", "--model", "baby", "--block-size", "4096", "--max-steps", "0", "--eval-steps", "1", "--batch-size", "1",
    "--out", os.path.join(work, "baby"), "--threads", "1")
server, url = serve(os.path.join(work, "baby"), "--threads", "1", "--parallel", "1")
try:
    driver.get(url + "/chat")
    wait(driver, "return document.querySelector('input[value=completion]').checked")
    driver.execute_script("document.getElementById('max-tokens').value = '4000';")
    driver.find_element(By.ID, "input").send_keys("대한민국")
    driver.find_element(By.ID, "send").click()
    wait(driver, "return document.querySelectorAll('.turn.completion .text span').length >= 3")
    driver.find_element(By.ID, "stop").click()
    wait(driver, "const t = document.querySelector('.turn.completion'); return t && t.dataset.done === '1'")
    idle, predicted = stopped_generating(url)
    cancelled = driver.execute_script("return document.querySelector('.turn.completion').dataset.finish")
    check("chat page: Stop cancels the generation on the server", cancelled == "cancelled" and idle and predicted < 4000,
          (cancelled, idle, predicted))
    driver.save_screenshot(os.path.join(shots, "chat-stopped.png"))
finally:
    stop(server)

# The training dashboard: a 20-step run's points appear as it trains.
run_folder = os.path.join(work, "dash")
trainer = subprocess.Popen([BIN, "train", "--out", run_folder, "--max-steps", "20", "--eval-every", "10", "--eval-steps", "2",
                            "--batch-size", "8", "--n-layer", "2", "--n-embd", "64", "--n-head", "2", "--block-size", "64",
                            "--threads", "1", "--dashboard", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    for line in trainer.stdout:
        found = re.search(r"dashboard: (http://[0-9.:]+)/dashboard", line)
        if found:
            break
    driver.get(found.group(1) + "/dashboard")
    wait(driver, "return document.body.dataset.steps === '20' && document.getElementById('status').textContent.startsWith('finished')", 60)
    rows = int(driver.execute_script("return document.body.dataset.rows"))
    points = driver.execute_script("return [document.querySelectorAll('#chart-loss circle.val').length, document.querySelectorAll('#chart-loss circle.train').length]")
    lines = driver.execute_script("return ['chart-lr', 'chart-grad', 'chart-speed'].map(id => document.querySelector('#' + id + ' polyline').getAttribute('points').split(' ').length)")
    samples = driver.execute_script("return document.querySelectorAll('#samples pre').length")
    check("dashboard: the 20-step run's points appear (21 rows, 3 evaluations of train and val)", rows == 21 and points == [3, 3], (rows, points))
    check("dashboard: learning rate, gradient norm and tokens/s curves of 20 steps", lines == [20, 20, 20], lines)
    check("dashboard: a sample per evaluation", samples == 3, samples)
    driver.save_screenshot(os.path.join(shots, "dashboard.png"))
    no_script_errors(driver, "dashboard")
finally:
    trainer.send_signal(signal.SIGINT)
    try:
        trainer.wait(timeout=10)
    except subprocess.TimeoutExpired:
        trainer.kill()
check("train --dashboard ends on Ctrl-C after the run", trainer.returncode is not None, trainer.returncode)

# serve --run shows the finished run from its log.
server, url = serve(os.path.join(run_folder, "best"), "--run", run_folder)
try:
    driver.get(url + "/dashboard")
    wait(driver, "return document.body.dataset.steps === '20'")
    check("serve --run: the dashboard shows the run from its log", driver.execute_script("return document.body.dataset.rows") == "21")
finally:
    stop(server)
driver.quit()
print("screenshots in " + shots)
finish()
