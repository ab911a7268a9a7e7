// The console's JSON API, with errors that say what happened.

async function answer(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (response.status === 401) {
    location.href = "/login";
  }
  if (!response.ok) {
    throw new Error(body?.error ?? `the console answered ${response.status}`);
  }
  return body;
}

export async function getJSON(path) {
  return answer(await fetch(path, { headers: { accept: "application/json" } }));
}

export async function postJSON(path, body) {
  return answer(await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
}
