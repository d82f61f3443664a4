// The Threadr playground: sends what was pasted to POST /api/generate and shows the thread, the
// rate-limit state (the RateLimit / RateLimit-Policy headers) and the free-tier quota. Plain
// JavaScript, no build step; every call goes to this same origin (CSP connect-src 'self').
"use strict";

(() => {
  const MAX_WEIGHT = 280; // X's limit on a tweet's weighted length (the API's character_count)
  const LONE_URL = /^[a-z][a-z0-9+.-]*:\/\/\S+$/i; // a link and nothing else: sent as `url`
  const $ = (id) => document.getElementById(id);
  let token = null; // a session token from sign-in: kept in memory only, gone on reload

  /** An answer of the API that is not a success, with its `detail` as a sentence. */
  class ApiError extends Error {
    constructor(message, code, status, body) {
      super(message);
      this.code = code;
      this.status = status;
      this.body = body;
    }
  }

  /** The sentence to show for an error body: `detail` is always a string in this API, but a
   * proxy in between may answer anything, and an object must never print as [object Object]. */
  function sentence(body, response) {
    const detail = body && body.detail;
    if (typeof detail === "string" && detail) return detail;
    if (Array.isArray(detail)) {
      return detail.map((item) => (item && item.msg) || JSON.stringify(item)).join(" ");
    }
    if (detail) return JSON.stringify(detail);
    const status = `${response.status} ${response.statusText}`.trim();
    return `The API answered ${status} without an explanation.`;
  }

  /** fetch() an API path; resolves to {body, response}, rejects with an ApiError. */
  async function call(method, path, payload) {
    const headers = { Accept: "application/json" };
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers };
    if (payload !== undefined) init.body = JSON.stringify(payload);
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      const message = `The API could not be reached (${err.message}).`;
      throw new ApiError(message, "network_error", 0, null);
    }
    let body = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) {
      body = await response.json().catch(() => null);
    }
    if (!response.ok) {
      const code = body && body.code;
      const error = new ApiError(sentence(body, response), code, response.status, body);
      error.response = response;
      throw error;
    }
    return { body, response };
  }

  // --- rate limit: the draft-ietf-httpapi-ratelimit-headers fields ------------------------------

  /** `"burst";q=10;w=60, "hourly";q=50;w=3600` → [{name, q, w}] (a list of structured items). */
  function parseItems(value) {
    if (!value) return [];
    return value.split(",").map((item) => {
      const [name, ...params] = item.trim().split(";");
      const parsed = { name: name.trim().replace(/^"|"$/g, "") };
      for (const param of params) {
        const [key, number] = param.split("=");
        parsed[key.trim()] = Number(number);
      }
      return parsed;
    });
  }

  function windowName(seconds) {
    if (seconds === 60) return "minute";
    if (seconds === 3600) return "hour";
    if (seconds === 86400) return "day";
    if (seconds % 3600 === 0) return `${seconds / 3600} hours`;
    if (seconds % 60 === 0) return `${seconds / 60} minutes`;
    return `${seconds} seconds`;
  }

  function span(seconds) {
    if (seconds < 120) return `${seconds} second${seconds === 1 ? "" : "s"}`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} minutes`;
    return `${Math.round(seconds / 3600)} hours`;
  }

  /** Show {policies: [{name, limit, window}], closest: {name, remaining, reset}, retryAfter}. */
  function showLimits(state, source) {
    const list = $("limit-policies");
    list.replaceChildren(
      ...state.policies.map((policy) => {
        const item = document.createElement("li");
        const per = windowName(policy.window);
        item.textContent = `${policy.name}: ${policy.limit} requests per ${per}`;
        return item;
      }),
    );
    const closest = state.closest;
    let text = state.policies.length ? "Nothing used yet." : "No rate limit is configured.";
    if (closest) {
      const policy = state.policies.find((p) => p.name === closest.name);
      const of = policy ? ` of ${policy.limit}` : "";
      const full = closest.reset ? `full again in ${span(closest.reset)}` : "nothing used";
      text = `${closest.name}: ${closest.remaining}${of} left, ${full}.`;
    }
    if (state.retryAfter) text = `Limited: try again in ${span(state.retryAfter)}.`;
    $("limit-closest").textContent = text;
    $("limit-closest").classList.toggle("warn", Boolean(state.retryAfter));
    $("limit-source").textContent = source;
  }

  function limitsFromHeaders(response) {
    const policy = response.headers.get("RateLimit-Policy");
    if (!policy) return false; // this answer did not go through the limiter (a malformed body)
    const [closest] = parseItems(response.headers.get("RateLimit"));
    showLimits(
      {
        policies: parseItems(policy).map((p) => ({ name: p.name, limit: p.q, window: p.w })),
        closest: closest && { name: closest.name, remaining: closest.r, reset: closest.t },
        retryAfter: response.status === 429 ? Number(response.headers.get("Retry-After")) : 0,
      },
      "From the RateLimit and RateLimit-Policy headers of the last answer.",
    );
    return true;
  }

  async function refreshLimits() {
    try {
      const { body } = await call("GET", "/api/rate-limit-status");
      const policies = body.policies.map((p) => ({
        name: p.name,
        limit: p.limit,
        window: p.window_seconds,
        remaining: p.remaining,
        reset: p.reset_in_seconds,
      }));
      // The policy closest to exhaustion, as the RateLimit header would name it.
      const closer = (a, b) => (b.remaining / b.limit < a.remaining / a.limit ? b : a);
      const closest = policies.reduce(closer, policies[0]);
      showLimits({ policies, closest, retryAfter: 0 }, "From GET /api/rate-limit-status.");
    } catch (err) {
      $("limit-closest").textContent = err.message;
    }
  }

  // --- quota ------------------------------------------------------------------------------------

  function showUsage(usage) {
    if (usage.has_premium) {
      const until = usage.premium_expires_at ? ` until ${usage.premium_expires_at}` : "";
      $("quota-today").textContent = `Premium${until}: no daily or monthly limit.`;
      $("quota-month").textContent = "";
    } else if (!usage.free_tier_enabled) {
      $("quota-today").textContent = "The free-tier limit is off on this service.";
      $("quota-month").textContent = "";
    } else {
      $("quota-today").textContent =
        `Today: ${usage.daily_usage} of ${usage.daily_limit} used, ${usage.daily_remaining} left.`;
      $("quota-month").textContent = `This month: ${usage.monthly_usage} of ` +
        `${usage.monthly_limit} used, ${usage.monthly_remaining} left.`;
    }
    const spent = usage.daily_remaining === 0 || usage.monthly_remaining === 0;
    const limited = !usage.has_premium && usage.free_tier_enabled;
    $("quota-today").classList.toggle("warn", limited && spent);
  }

  async function refreshUsage() {
    try {
      showUsage((await call("GET", "/api/usage/status")).body);
    } catch (err) {
      $("quota-today").textContent = err.message;
      $("quota-month").textContent = "";
    }
  }

  // --- the thread -------------------------------------------------------------------------------

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API (a page served over plain HTTP from another host): select and copy.
      const area = document.createElement("textarea");
      area.value = text;
      area.className = "offscreen";
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.dataset.label = button.dataset.label || button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = button.dataset.label; }, 1500);
  }

  function showThread(body, response) {
    const template = $("tweet");
    $("tweets").replaceChildren(
      ...body.thread.map((tweet) => {
        const item = template.content.firstElementChild.cloneNode(true);
        item.dataset.number = String(tweet.number);
        item.querySelector(".content").textContent = tweet.content;
        const count = item.querySelector(".count");
        count.textContent = `${tweet.character_count} / ${MAX_WEIGHT}`;
        count.dataset.count = String(tweet.character_count);
        count.title = "X's weighted length: links count 23, CJK characters and emoji 2";
        count.classList.toggle("warn", tweet.character_count > MAX_WEIGHT);
        const button = item.querySelector(".copy");
        button.addEventListener("click", () => copy(tweet.content, button));
        return item;
      }),
    );
    const parts = [
      `${body.thread.length} tweet${body.thread.length === 1 ? "" : "s"}`,
      body.source_type === "url" ? "from the article's URL" : "from the text",
      `written by the ${body.generator} writer`,
      `X-Cache: ${response.headers.get("X-Cache") || "not sent"}`,
    ];
    if (body.title) parts.unshift(`“${body.title}”`);
    $("meta").textContent = `${parts.join(" · ")}.`;
    $("copy-all").onclick = (event) =>
      copy(body.thread.map((tweet) => tweet.content).join("\n\n"), event.currentTarget);
    $("result").hidden = false;
  }

  function showError(message, code) {
    const error = $("error");
    error.textContent = message;
    error.dataset.code = code || "";
    error.hidden = !message;
  }

  /** What the box holds, as the API's body: a lone http(s) link is an article URL. */
  function request() {
    const value = $("input").value;
    const trimmed = value.trim();
    if (!trimmed) return null;
    return LONE_URL.test(trimmed) ? { url: trimmed } : { text: value };
  }

  function describeInput() {
    const body = request();
    let text = "Nothing to send yet.";
    if (body && body.url) text = "Will send as an article URL (the API fetches the page).";
    else if (body) text = `Will send as text (${body.text.length} characters).`;
    $("kind").textContent = text;
  }

  async function generate() {
    if (document.body.dataset.state === "loading") return;
    const body = request();
    if (!body) {
      showError("Paste some text or a URL first.", "empty_input");
      return;
    }
    document.body.dataset.state = "loading";
    $("submit").disabled = true;
    $("submit").textContent = "Working…";
    showError("");
    let answer = null;
    let state = "done";
    try {
      const { body: thread, response } = await call("POST", "/api/generate", body);
      answer = response;
      showThread(thread, response);
    } catch (err) {
      answer = err.response;
      showError(err.message, err.code);
      $("result").hidden = true;
      state = "error";
    }
    // A body refused before the limiter carries no RateLimit headers: ask instead.
    const shown = answer && limitsFromHeaders(answer);
    await Promise.all([shown ? null : refreshLimits(), refreshUsage()]);
    $("submit").disabled = false;
    $("submit").textContent = "Make the thread";
    document.body.dataset.state = state; // "done" or "error", once everything shown is current
  }

  // --- signing in (optional: accounts need Redis) -----------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const action = event.submitter && event.submitter.value === "register" ? "register" : "login";
    const accountError = $("account-error");
    accountError.hidden = true;
    try {
      const { body } = await call("POST", `/api/auth/${action}`, {
        email: $("email").value, password: $("password").value,
      });
      token = body.access_token;
      $("who").textContent = body.user.email;
      $("password").value = "";
      $("signin").hidden = true;
      $("signed-in").hidden = false;
    } catch (err) {
      accountError.textContent = err.message;
      accountError.hidden = false;
      return;
    }
    await Promise.all([refreshLimits(), refreshUsage()]);
  }

  async function signOut() {
    try {
      await call("POST", "/api/auth/logout");
    } catch {
      // The token is dropped here whatever the server said; it expires there on its own.
    }
    token = null;
    $("signin").hidden = false;
    $("signed-in").hidden = true;
    await Promise.all([refreshLimits(), refreshUsage()]);
  }

  // --- wiring -----------------------------------------------------------------------------------

  $("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  $("input").addEventListener("input", describeInput);
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      generate();
    }
  });
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);

  // Deep links: /playground?text=… or ?url=…, and &run=1 to send at once.
  const params = new URLSearchParams(window.location.search);
  const linked = params.get("url") || params.get("text");
  if (linked) $("input").value = linked;
  describeInput();
  if (params.get("run") === "1" && request()) {
    generate();
  } else {
    refreshLimits();
    refreshUsage();
  }
})();
