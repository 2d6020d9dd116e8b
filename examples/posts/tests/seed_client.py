"""The seeds' client, with `requests`: register (seed 004), log in with the OAuth2 password
form (seed 003), then create a post without a token and with one. Prints one line per step:
`<step> <status>`; the Rust test checks them."""
import sys

import requests

base = sys.argv[1]
username = sys.argv[2]

# Seed 004: POST /users/register with JSON.
response = requests.post(
    f"{base}/users/register", json={"username": username, "password": "123456-seed-pass"}
)
print("register", response.status_code)
assert "password" not in response.text

# The same name again: 409.
response = requests.post(
    f"{base}/users/register", json={"username": username, "password": "123456-seed-pass"}
)
print("register-again", response.status_code)

# Seed 003: POST /login with OAuth2PasswordRequestForm fields, as a form.
response = requests.post(
    f"{base}/login", data={"username": username, "password": "123456-seed-pass"}
)
print("login", response.status_code, response.json()["token_type"])
token = response.json()["access_token"]

# Seed 003: creating a post without a token is refused...
response = requests.post(f"{base}/posts", json={"title": "hello", "content": "first post"})
print("create-anonymous", response.status_code, response.headers.get("WWW-Authenticate"))

# ...and works with it.
response = requests.post(
    f"{base}/posts",
    json={"title": "hello", "content": "first post"},
    headers={"Authorization": f"Bearer {token}"},
)
print("create", response.status_code, response.json()["title"])
