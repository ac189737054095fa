"""Entry script of the web app: `llmsizer app`, or `streamlit run` on this file.

Each page's module is imported when the page is first opened, so the sidebar and the Estimate
page's metrics appear before plotly and the other pages load.
"""

import streamlit as st

from llmsizer.web.sidebar import scenario_sidebar


def main() -> None:
    st.set_page_config(page_title="llmsizer", layout="wide")
    choice, problem = scenario_sidebar()

    def estimate():
        from llmsizer.web.pages import estimate_page

        estimate_page(choice, problem)

    def need():
        from llmsizer.web.need_page import need_page

        need_page(choice, problem)

    def compare():
        from llmsizer.web.pages import compare_page

        compare_page(choice, problem)

    def study():
        from llmsizer.web.pages import study_page

        study_page(choice, problem)

    def validation():
        from llmsizer.web.pages import validation_page

        validation_page()

    st.navigation([st.Page(estimate, title="Estimate", default=True),
                   st.Page(need, title="What do I need?", url_path="need"),
                   st.Page(compare, title="Compare", url_path="compare"), st.Page(study, title="Study", url_path="study"),
                   st.Page(validation, title="Validation", url_path="validation")], position="top").run()


if __name__ == "__main__":
    main()
