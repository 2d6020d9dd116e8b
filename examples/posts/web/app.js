// The posts page: plain JavaScript, no build step, cookies only. The access and refresh
// tokens live in HttpOnly cookies that this script cannot read; it reads only the CSRF cookie
// and sends its value back in the `x-csrf-token` header of every unsafe request.
"use strict";

const CSRF_COOKIE = "__Host-csrf";
const $ = (id) => document.getElementById(id);
let me = null;
let feed = null;

function cookie(name) {
  for (const pair of document.cookie.split(";")) {
    const [key, ...value] = pair.trim().split("=");
    if (key === name) return value.join("=");
  }
  return null;
}

function say(message, error = false) {
  const status = $("status");
  status.textContent = message;
  status.className = error ? "error" : "";
}

// One request; on 401, one refresh by cookie and one retry.
async function api(method, path, body, retried = false) {
  const headers = {};
  const csrf = cookie(CSRF_COOKIE);
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  let payload;
  if (body instanceof URLSearchParams) {
    payload = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (response.status === 401 && !retried && path !== "/web/token/refresh" && (await refresh())) {
    return api(method, path, body, true);
  }
  return response;
}

async function refresh() {
  if (!cookie(CSRF_COOKIE)) return false;
  const response = await api("POST", "/web/token/refresh", undefined, true);
  return response.ok;
}

async function problem(response) {
  try {
    const body = await response.json();
    return body.detail || body.error_description || body.error || response.statusText;
  } catch {
    return response.statusText;
  }
}

function show(signedIn) {
  $("signed-in").hidden = !signedIn;
  $("signed-out").hidden = signedIn;
  $("logout").hidden = !signedIn;
  $("who").textContent = signedIn && me ? `signed in as ${me.username}` : "";
}

async function start() {
  const response = await api("GET", "/web/me");
  if (response.ok) {
    me = await response.json();
    show(true);
    await loadPosts();
    connectFeed();
  } else {
    me = null;
    show(false);
  }
}

function postItem(post) {
  const li = document.createElement("li");
  li.dataset.id = post.id;
  if (!post.published) li.classList.add("draft");
  const title = document.createElement("strong");
  title.className = "title";
  title.textContent = post.title;
  const content = document.createElement("div");
  content.className = "content";
  content.textContent = post.content;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `#${post.id} by user ${post.owner_id}${post.published ? "" : " · draft"}`;
  li.append(title, content, meta);
  return li;
}

async function loadPosts() {
  const response = await api("GET", "/posts");
  const list = $("posts");
  if (!response.ok) {
    list.replaceChildren();
    say(`cannot list posts: ${await problem(response)}`, true);
    return false;
  }
  const posts = await response.json();
  list.replaceChildren(
    ...posts.map((post) => {
      const li = postItem(post);
      if (me && post.owner_id === me.id) {
        const edit = document.createElement("button");
        edit.textContent = "Edit";
        edit.className = "edit";
        edit.onclick = () => startEdit(post);
        const remove = document.createElement("button");
        remove.textContent = "Delete";
        remove.className = "delete";
        remove.onclick = () => removePost(post.id);
        li.append(edit, remove);
      }
      return li;
    }),
  );
  return true;
}

function startEdit(post) {
  $("post-id").value = post.id;
  $("post-title").value = post.title;
  $("post-content").value = post.content;
  $("post-published").checked = post.published;
  $("post-form-title").textContent = `Edit post #${post.id}`;
  $("post-submit").textContent = "Save";
  $("post-cancel").hidden = false;
}

function resetForm() {
  $("post-form").reset();
  $("post-id").value = "";
  $("post-form-title").textContent = "New post";
  $("post-submit").textContent = "Create";
  $("post-cancel").hidden = true;
}

async function removePost(id) {
  const response = await api("DELETE", `/posts/${id}`);
  if (response.ok) say(`post #${id} deleted`);
  else say(`cannot delete: ${await problem(response)}`, true);
  await loadPosts();
}

function connectFeed() {
  if (feed) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/web/feed`;
  feed = new WebSocket(url);
  feed.onopen = () => ($("feed-state").textContent = "connected");
  feed.onmessage = (event) => {
    const post = JSON.parse(event.data);
    $("feed").prepend(postItem(post));
    loadPosts();
  };
  feed.onclose = (event) => {
    feed = null;
    $("feed-state").textContent = `closed (${event.code}${event.reason ? ": " + event.reason : ""})`;
    // The session's access token ran out: refresh it and reconnect, while signed in.
    if (me && event.code === 1008 && event.reason === "token expired") {
      refresh().then((ok) => ok && me && connectFeed());
    }
  };
}

$("login-form").onsubmit = async (event) => {
  event.preventDefault();
  const form = new URLSearchParams({
    grant_type: "password",
    username: $("login-username").value,
    password: $("login-password").value,
  });
  const response = await api("POST", "/web/token", form, true);
  if (!response.ok) {
    say(`cannot log in: ${await problem(response)}`, true);
    return;
  }
  $("login-form").reset();
  say("logged in");
  await start();
};

$("register-form").onsubmit = async (event) => {
  event.preventDefault();
  const body = { username: $("reg-username").value, password: $("reg-password").value };
  if ($("reg-email").value) body.email = $("reg-email").value;
  const response = await api("POST", "/users/register", body, true);
  if (!response.ok) {
    say(`cannot register: ${await problem(response)}`, true);
    return;
  }
  $("login-username").value = body.username;
  $("register-form").reset();
  say(`registered ${body.username}; now log in`);
};

$("post-form").onsubmit = async (event) => {
  event.preventDefault();
  const id = $("post-id").value;
  const body = {
    title: $("post-title").value,
    content: $("post-content").value,
    published: $("post-published").checked,
  };
  const response = id ? await api("PUT", `/posts/${id}`, body) : await api("POST", "/posts", body);
  if (!response.ok) {
    say(`cannot save: ${await problem(response)}`, true);
    return;
  }
  const post = await response.json();
  say(id ? `post #${post.id} saved` : `post #${post.id} created`);
  resetForm();
  await loadPosts();
};

$("post-cancel").onclick = resetForm;

$("logout").onclick = async () => {
  let response = await api("POST", "/web/logout");
  if (!response.ok && response.status !== 401) {
    say(`cannot log out: ${await problem(response)}`, true);
    return;
  }
  me = null;
  if (feed) feed.close(1000, "logged out");
  $("posts").replaceChildren();
  $("feed").replaceChildren();
  show(false);
  say("logged out");
};

start();
